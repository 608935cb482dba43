"""mpsim: explore every interleaving of kernel memory-allocation paths."""

__version__ = "0.1.0"

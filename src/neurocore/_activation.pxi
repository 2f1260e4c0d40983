# Wrappers for csrc/kernels/activation*.inc (to be written by the activation work).

# Wrappers for csrc/kernels/loss*.inc (to be written by the loss work).

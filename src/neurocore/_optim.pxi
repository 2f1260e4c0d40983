# Wrappers for csrc/kernels/optim*.inc (to be written by the optim work).

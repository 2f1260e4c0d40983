# Wrappers for csrc/kernels/softmax*.inc (to be written by the softmax work).

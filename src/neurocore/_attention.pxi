# Wrappers for csrc/kernels/attention*.inc (to be written by the attention work).

# Wrappers for csrc/kernels/gemm*.inc (to be written by the gemm work).

"""Interleaved minimum-time comparison of the bench_gemm.py cases.

    python bench/gemm_minima.py            # all cores
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python bench/gemm_minima.py

On a machine shared with other work, medians of multi-threaded calls are
dominated by scheduler time slices; alternating numpy and neurocore calls
and keeping each side's minimum measures both at their uncontended moments.
Prints a markdown table (ratio = numpy time / neurocore time).
"""
import numpy as np, time, sys
from neurocore import kernels as K
rng=np.random.default_rng(0)
def pair(f_np, f_nc, budget=1.5):
    f_np(); f_nc()
    t=time.perf_counter(); f_np(); f_nc(); one=time.perf_counter()-t
    n=int(min(max(5, budget/max(one,1e-7)), 3000))
    a=[];b=[]
    for _ in range(n):
        t=time.perf_counter(); f_np(); a.append(time.perf_counter()-t)
        t=time.perf_counter(); f_nc(); b.append(time.perf_counter()-t)
    return min(a), min(b)
def row(name, tn, tc, flops=None):
    g = f"{flops/tc/1e9:6.1f}" if flops else "      "
    gn = f"{flops/tn/1e9:6.1f}" if flops else "      "
    print(f"| {name:34s} | {tn*1e6:10.1f} | {tc*1e6:10.1f} | {tn/tc:5.2f}x | {gn} | {g} |", flush=True)
print("| case | numpy min us | neurocore min us | ratio | numpy GFLOPS | neurocore GFLOPS |")
print("|---|---|---|---|---|---|")
SH=[(64,784,256),(256,784,512),(1576,192,576),(1576,768,192),(2048,2048,2048)]
GC=np.sqrt(2/np.pi)
for dt,nm in ((np.float32,"f32"),(np.float64,"f64")):
  for (M,Kd,N) in SH:
    x=rng.standard_normal((M,Kd)).astype(dt); w=(rng.standard_normal((N,Kd))/np.sqrt(Kd)).astype(dt); b=rng.standard_normal(N).astype(dt)
    g=rng.standard_normal((M,N)).astype(dt); fl=2.0*M*N*Kd
    tn,tc=pair(lambda: x@w.T+b, lambda: K.linear_forward(x,w,b)); row(f"linear fwd {nm} {M}x{Kd}x{N}",tn,tc,fl)
    tn,tc=pair(lambda: (g@w, g.T@x, g.sum(0)), lambda: K.linear_backward(g,x,w)); row(f"linear bwd {nm} {M}x{Kd}x{N}",tn,tc,2*fl)
for (M,Kd,N) in [(256,784,512),(1576,192,768)]:
    x=rng.standard_normal((M,Kd)).astype(np.float32); w=(rng.standard_normal((N,Kd))/np.sqrt(Kd)).astype(np.float32); b=rng.standard_normal(N).astype(np.float32)
    def npg():
        z=x@w.T+b; return 0.5*z*(1.0+np.tanh(GC*(z+0.044715*z**3)))
    tn,tc=pair(npg, lambda: K.linear_forward(x,w,b,"gelu_tanh")); row(f"linear+gelu_tanh f32 {M}x{Kd}x{N}",tn,tc,2.0*M*N*Kd)
for n in (256,1024,4096):
    w=rng.standard_normal((n,n)).astype(np.float32); v=rng.standard_normal(n).astype(np.float32)
    tn,tc=pair(lambda: w@v, lambda: K.matvec(w,v)); row(f"matvec f32 {n}x{n}",tn,tc,2.0*n*n)
for n in (256,1024):
    G=rng.standard_normal((n,n)).astype(np.float32); d=rng.standard_normal(n).astype(np.float32); a=rng.standard_normal(n).astype(np.float32)
    tn,tc=pair(lambda: G.__iadd__(np.outer(d,a)), lambda: K.outer_acc(G,d,a)); row(f"outer acc f32 {n}x{n}",tn,tc,2.0*n*n)

"""python -m neurocore demo --model mlp: an MLP on scikit-learn's 8×8 digits.

Needs the ``[demo]`` extra (scikit-learn, tqdm).  Trains a 64-128-10 ReLU MLP
with cross-entropy and SGD with momentum, one progress bar per epoch, and
prints the test accuracy.
"""
import neurocore as nc
from neurocore.demos import load_digits_split, train


def main(epochs=30, batch_size=32, lr=0.05, momentum=0.9, seed=0, quiet=False, distributed=False):
    """Train and return the test accuracy.  distributed: data-parallel over
    the process group (``mpiexec -n N python -m neurocore demo --distributed``),
    the same global batches as one process."""
    nc.manual_seed(seed)
    data = load_digits_split(seed)
    model = nc.nn.MLP([64, 128, 10], activation="relu")
    net = model
    if distributed:
        import neurocore.distributed as dist

        net = dist.DistributedDataParallel(model)
    opt = nc.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    if not distributed or dist.get_rank() == 0:
        print(f"digits: {len(data[0])} train / {len(data[2])} test, model MLP([64, 128, 10]), "
              f"optimizer SGD(lr={lr}, momentum={momentum})")
    return train(net, opt, data, epochs, batch_size, seed, quiet, distributed=distributed)


if __name__ == "__main__":
    main()

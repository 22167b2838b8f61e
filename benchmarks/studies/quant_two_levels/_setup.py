"""The data and network every script of this study shares: 3,000 MNIST training images (seeded),
the first 2,000 test images, a 32x32-neuron, 3-layer visible-preset D2NN built in full precision."""
import numpy as np
import torch

from quaton_fast import quant
from quaton_fast.data.mnist import load_mnist
from quaton_fast.nn import D2NN

x, y = load_mnist("train"); xt, yt = load_mnist("test")
idx = np.random.default_rng(0).choice(len(x), 3000, replace=False)
X = torch.tensor(x[idx], dtype=torch.float32); Y = torch.tensor(y[idx]).long()
XT = torch.tensor(xt[:2000], dtype=torch.float32); YT = torch.tensor(yt[:2000]).long()
N, L = 32, 3
def build(): return D2NN.preset("visible-128", n=N, num_layers=L, object_size=N, quantizer=quant.FullPrecision(), seed=0)

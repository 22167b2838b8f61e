"""QUBO / Ising / Max-Cut / QUMO problems, readers, generators and the AOC-DT solver."""
from .aoc_solver import SolveResult, solve
from .bcd import bcd
from .problems import QUBO, QUMO, Ising, MaxCut, brute_force
from .readers import read_gset, read_qplib, read_rudy, read_sk, read_sk_ground_energies

__all__ = ["solve", "SolveResult", "bcd", "QUBO", "QUMO", "Ising", "MaxCut", "brute_force", "read_gset",
           "read_rudy", "read_sk", "read_sk_ground_energies", "read_qplib"]

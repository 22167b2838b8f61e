"""The solvers. AOC-DT replica dynamics: aoc_solver (the restart loop), replica_operator / replica_kernels
/ replica_torch (the inner loop on NumPy, C++ and torch), distributed (replicas sharded over ranks),
hardware_solver (through the non-ideal twin). Block coordinate descent: bcd, aux_bcd. Exact:
qumo_exact, constrained_exact. Constrained: constrained_solve (augmented Lagrangian) with
constrained_phases, constrained_repair, assignment_repair and feasibility_milp (HiGHS fallback).
Ocean interface: dimod_sampler (AOCSampler; optional dependency dimod)."""

"""Problem models and their entry checks: QUMO / Ising / QUBO / MaxCut and exact conversions
(problems), ConstrainedProblem (constraints) and its row classes (constraint_classes), the checks done
once where a problem or option enters a solver (entry_checks), instance generators (generators)."""

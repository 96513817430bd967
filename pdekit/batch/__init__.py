"""Batch jobs: one run from a config, sweeps over many runs (local processes, SLURM arrays through
submitit, MPI ranks), preemption-safe checkpoints, collected results, data-parallel training."""

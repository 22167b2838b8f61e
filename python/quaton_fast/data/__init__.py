"""Dataset loaders and generators (offline only).

``load_dataset(name, split, root=None, **options)`` is the uniform entry point; the modules
``mnist``, ``mnist_subset``, ``cifar10``, ``rbc`` (synthetic red blood cells) and ``cells``
(real QPI tiles from scikit-image) hold the individual loaders.
"""
from .registry import CLASSIFICATION_DATASETS, DATASET_NAMES, QPI_DATASETS, dataset_task, load_dataset

__all__ = ["load_dataset", "dataset_task", "DATASET_NAMES", "CLASSIFICATION_DATASETS", "QPI_DATASETS"]

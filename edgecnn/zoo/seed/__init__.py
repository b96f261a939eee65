"""Architectures torchvision lacks, written here after their papers."""

"""Recipes: one YAML file describing model, data, training, export, precisions, targets, profiling."""

from .schema import Recipe, RecipeError, load_recipe, parse_overrides

__all__ = ["Recipe", "RecipeError", "load_recipe", "parse_overrides"]

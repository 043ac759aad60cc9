"""Viewers of the plugin (score histogram, threshold explorer, thumbnail gallery): not built yet."""

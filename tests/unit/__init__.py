"""Unit tests of the pure modules, one file per module, called directly with real inputs."""

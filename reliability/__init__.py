"""The reliability and security suite: real servers, real HTTP, a real SQLite file.

``python -m reliability [--profile ci|full] [--markdown FILE]`` runs every check and
prints one table of figures (test, figure reached, goal, pass/fail); it exits 1 when a
figure misses its goal. See reliability/README.md.
"""

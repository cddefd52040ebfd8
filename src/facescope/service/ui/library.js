// Photo library view: filled in by its own module.

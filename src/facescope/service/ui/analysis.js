// Analysis view: filled in by its own module.

"""Matching: calibrated thresholds, score fusion, calibration and metrics."""

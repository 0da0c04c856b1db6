"""From scores to funding: consolidation, calibration, ranking, allocation, simulation, reports."""

"""Winner stage: pick, retrain, score, export and register the best trial."""

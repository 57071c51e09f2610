"""`python -m training`: rebuild a model_store entry (train, calibrate, evaluate) from MIT-BIH DS1."""

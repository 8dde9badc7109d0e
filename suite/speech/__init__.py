"""Speech recognition (issue 6): DeepSpeech 1 and 2 acoustic models trained with CTC."""

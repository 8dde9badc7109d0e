"""Multi-task NLU: the lexicon encoder, BERT pre-training (masked LM + next sentence), MT-DNN."""

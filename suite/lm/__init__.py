"""The language-model lineage: static word vectors (word2vec, the neural language model), and next
ELMo and GPT (issue 18)."""

"""RMDL (Kowsari et al. 2018): random multimodel deep learning for text, images and 3-D point clouds."""

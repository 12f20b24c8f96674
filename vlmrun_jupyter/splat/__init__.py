"""3D Gaussian splats: the SPZ codec and the image relief used by the local server."""

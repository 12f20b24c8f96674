"""PDF documents: bounded page rendering in a worker process (`pdf`) and the live
document viewer widget (`viewer`)."""

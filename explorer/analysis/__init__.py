"""Analyses built on the model and the seed's mathematics (no Streamlit): one module per topic."""

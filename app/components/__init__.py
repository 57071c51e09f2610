"""Small reusable UI pieces; figures.py holds the pure data -> plotly figure builders."""

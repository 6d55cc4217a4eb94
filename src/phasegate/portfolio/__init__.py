"""The portfolio: use cases, their definitions of done, scoring, ROI and risk tier."""

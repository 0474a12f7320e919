"""Measuring samples: the feature classifier and the quality metrics built on it."""

from gan_digits.metrics.classifier import DigitClassifier, FeatureExtractor, load_classifier
from gan_digits.metrics.quality import QualityMeter, build_meter, distance_backbone

__all__ = ["DigitClassifier", "FeatureExtractor", "QualityMeter", "build_meter", "distance_backbone", "load_classifier"]

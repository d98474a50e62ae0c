"""Social-xLSTM: traffic forecasting with sLSTM encoders and a social mLSTM layer."""

__version__ = "0.1.0"

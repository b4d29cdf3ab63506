"""Physics layer: WiFi links and airtime, LLM compute time, answer quality.

Pure functions from catalogue figures (models/) to the numbers the cost tables
need. Modules: ``wifi`` (link budget, PHY rate, Bianchi MAC efficiency,
airtime), ``llm`` (op duration), ``quality`` (IRT success probability).
"""

from offload_opt.physics import llm, quality, wifi

__all__ = ["llm", "quality", "wifi"]

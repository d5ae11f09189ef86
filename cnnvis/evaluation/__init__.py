"""The evaluation wing: which explanation to trust, measured.

- :mod:`.metrics`: deletion/insertion (Petsiuk et al. 2018), the pointing game (Zhang et
  al. 2016), random maps, the model-randomisation comparison (Adebayo et al. 2018);
- :mod:`.road`: ROAD's noisy linear imputation (Rong et al. 2022);
- :mod:`.perturbation`: every perturbed image of a report in one stream of batched passes;
- :mod:`.null`: the trust report's null (each map moved and flipped) and its rank test;
- :mod:`.sanity`: the model-randomisation sanity check on a kept copy of the model;
- :mod:`.checks`: the faithfulness and sanity checks as registry techniques;
- :mod:`.verdict`: the decision rule, one verdict and one reason per method;
- :mod:`.trust`: the trust report that puts them together.

Nothing is imported here; the public names are re-exported by :mod:`cnnvis`.
"""

"""The generator: learns baselines from past traffic and renders Suricata rules from them.

Learning: :mod:`generator.learn_traffic` (inputs, provenance), :mod:`generator.traffic_summary`
(mergeable summaries), :mod:`generator.thresholds` (explainable thresholds). Rendering:
:mod:`generator.render_suricata` (``write_suricata``), templates in ``generator/templates/``,
:mod:`generator.package` (suricata-update source). It never runs at packet time.
"""

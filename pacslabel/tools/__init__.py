"""What people run beside the loop: the demo, report labellers' training and
evaluation, the image model against human labels, occlusion maps, the PHI audit
and the corpus summary. Tools may use the pipeline; the pipeline never uses them."""

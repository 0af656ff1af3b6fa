"""Adapters: the pipeline's outside dependencies (the DynamoDB tables, SNS topics, the labels
bucket, the payment gateway and the carrier) behind small classes the handlers call. They
know the domain and nothing else of ours; each maps the service's errors to the domain's."""

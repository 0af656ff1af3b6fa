"""Deploy ``infra/template.yaml`` as a CloudFormation stack, the way ``sam deploy`` does.

Package the handlers (:mod:`.artifacts`), translate SAM (:mod:`.sam`), create and show a
change set (:mod:`.changes`), execute it and follow the stack's events (:mod:`.progress`),
print the outputs, tear it down (:mod:`.stack`). The target (:mod:`.target`) is the local
endpoint unless an AWS profile or region is named together with the explicit AWS flag.
"""

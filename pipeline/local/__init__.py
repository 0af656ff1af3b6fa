"""The local cloud: moto's AWS in-process or on loopback (:mod:`.endpoint`), the template
deployed through its CloudFormation (:mod:`.deploy`), and the local runtime that runs it
(:mod:`.runtime`: functions, stream mappings, rule delivery, state machines, the audit
Firehose and the remediation schedule on one clock); what a run left is read back by
:mod:`.observed`."""

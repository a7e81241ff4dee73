"""The CDK stack of the Bedrock customization pipeline: one construct per capability, composed by
``pipeline_stack.PipelineStack``."""

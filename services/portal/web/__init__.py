"""The portal's pages: thin routes that call one use case and render one template."""

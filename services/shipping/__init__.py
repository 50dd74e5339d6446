"""shipping: carriers and their rates, shipments with labels and tracking numbers, carrier scans."""

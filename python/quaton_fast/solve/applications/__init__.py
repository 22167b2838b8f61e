"""The paper's worked problems as QUMOs with their decoders and exact references: transaction
settlement (settlement), Shepp-Logan compressed sensing (compressed_sensing)."""

"""A hand-written protobuf codec for the few sing-box `daemon` messages the helper needs.

The node has only python3's stdlib, so no generated stubs: field numbers below were read
from the FileDescriptorProto embedded in the sing-box 1.14.4 binary
(`daemon/started_service.proto`), and the tests decode what the real binary sends.
"""

"""Device models QEMU attaches over PCI, as libvirt names them in a definition (for PCI009: a device of
one of these models without a recorded address gets one assigned at reconnect). Conservative: explicit
models only."""

from __future__ import annotations

from typing import Final

__all__ = [
    "NIC_PCI_MODELS",
    "SCSI_PCI_MODELS",
    "SOUND_PCI_MODELS",
    "USB_PCI_MODELS",
    "VIDEO_PCI_MODELS",
]

USB_PCI_MODELS: Final = (
    "piix3-uhci",
    "piix4-uhci",
    "ehci",
    "ich9-ehci1",
    "ich9-uhci1",
    "ich9-uhci2",
    "ich9-uhci3",
    "vt82c686b-uhci",
    "pci-ohci",
    "nec-xhci",
    "qemu-xhci",
)
SCSI_PCI_MODELS: Final = (
    "virtio-scsi",
    "virtio-transitional",
    "virtio-non-transitional",
    "lsilogic",
    "lsisas1068",
    "lsisas1078",
    "vmpvscsi",
    "am53c974",
    "dc390",
)
NIC_PCI_MODELS: Final = (
    "virtio",
    "virtio-transitional",
    "virtio-non-transitional",
    "e1000",
    "e1000e",
    "rtl8139",
    "vmxnet3",
    "ne2k_pci",
    "pcnet",
    "igb",
)
VIDEO_PCI_MODELS: Final = ("virtio", "qxl", "vga", "cirrus", "vmvga", "bochs")
SOUND_PCI_MODELS: Final = ("ich6", "ich7", "ich9", "ac97", "es1370")

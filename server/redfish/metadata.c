/* redfish/metadata: the CSDL documents. /redfish/v1/$metadata references
 * every schema the service's resources use (the DMTF's by their published
 * URIs, with the versions vmediad answers with) and the service's own OEM
 * schema, which it serves at REDFISH_OEM_SCHEMA: the types of the
 * Oem.vmedia objects of the Manager and of each VirtualMedia member.
 * Clients and the DMTF's Redfish-Service-Validator read both. */
#include "internal.h"

#include <string.h>

#define CSDL_DMTF "http://redfish.dmtf.org/schemas/v1/"
#define CSDL_EDMX_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" \
	"<edmx:Edmx xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\" Version=\"4.0\">\n"
#define CSDL_EDMX_TAIL "</edmx:Edmx>\n"
/* A reference to a DMTF schema file and the namespaces used from it. */
#define CSDL_REF(file, ...) "  <edmx:Reference Uri=\"" CSDL_DMTF file "\">\n" __VA_ARGS__ \
	"  </edmx:Reference>\n"
#define CSDL_NS(ns) "    <edmx:Include Namespace=\"" ns "\"/>\n"
#define CSDL_NS_AS(ns, alias) "    <edmx:Include Namespace=\"" ns "\" Alias=\"" alias "\"/>\n"
#define CSDL_SCHEMA(ns) "    <Schema xmlns=\"http://docs.oasis-open.org/odata/ns/edm\" " \
	"Namespace=\"" ns "\">\n"

static const char metadata[] =
	CSDL_EDMX_HEAD
	CSDL_REF("ServiceRoot_v1.xml", CSDL_NS("ServiceRoot") CSDL_NS("ServiceRoot.v1_5_0"))
	CSDL_REF("ComputerSystemCollection_v1.xml", CSDL_NS("ComputerSystemCollection"))
	CSDL_REF("ComputerSystem_v1.xml", CSDL_NS("ComputerSystem") CSDL_NS("ComputerSystem.v1_13_0"))
	CSDL_REF("ManagerCollection_v1.xml", CSDL_NS("ManagerCollection"))
	CSDL_REF("Manager_v1.xml", CSDL_NS("Manager") CSDL_NS("Manager.v1_10_0"))
	CSDL_REF("VirtualMediaCollection_v1.xml", CSDL_NS("VirtualMediaCollection"))
	CSDL_REF("VirtualMedia_v1.xml", CSDL_NS("VirtualMedia") CSDL_NS("VirtualMedia.v1_6_0"))
	CSDL_REF("TaskService_v1.xml", CSDL_NS("TaskService") CSDL_NS("TaskService.v1_1_4"))
	CSDL_REF("TaskCollection_v1.xml", CSDL_NS("TaskCollection"))
	CSDL_REF("Task_v1.xml", CSDL_NS("Task") CSDL_NS("Task.v1_4_3"))
	CSDL_REF("SessionService_v1.xml", CSDL_NS("SessionService") CSDL_NS("SessionService.v1_1_8"))
	CSDL_REF("SessionCollection_v1.xml", CSDL_NS("SessionCollection"))
	CSDL_REF("Message_v1.xml", CSDL_NS("Message") CSDL_NS("Message.v1_1_1"))
	CSDL_REF("Resource_v1.xml", CSDL_NS("Resource") CSDL_NS("Resource.v1_0_0"))
	"  <edmx:Reference Uri=\"" REDFISH_OEM_SCHEMA "\">\n"
	CSDL_NS(REDFISH_OEM_NS) CSDL_NS(REDFISH_OEM_NS ".v1_0_0")
	"  </edmx:Reference>\n"
	"  <edmx:DataServices>\n"
	CSDL_SCHEMA("Service")
	"      <EntityContainer Name=\"Service\"\n"
	"                       Extends=\"ServiceRoot.v1_5_0.ServiceContainer\"/>\n"
	"    </Schema>\n"
	"  </edmx:DataServices>\n"
	CSDL_EDMX_TAIL;

#define CSDL_ANN(term, kind, value) "        <Annotation Term=\"" term "\" " kind "=\"" value "\"/>\n"
#define CSDL_DESC(text) CSDL_ANN("OData.Description", "String", text)
#define CSDL_READ CSDL_ANN("OData.Permissions", "EnumMember", "OData.Permission/Read")
#define CSDL_PROP(name, type, nullable, text) "      <Property Name=\"" name "\" Type=\"" type \
	"\" Nullable=\"" nullable "\">\n  " CSDL_READ "  " CSDL_DESC(text) "      </Property>\n"
#define CSDL_CLOSED CSDL_ANN("OData.AdditionalProperties", "Bool", "false")

static const char oem[] =
	CSDL_EDMX_HEAD
	"  <edmx:Reference Uri=\"http://docs.oasis-open.org/odata/odata/v4.0/errata03/csd01/"
	"complete/vocabularies/Org.OData.Core.V1.xml\">\n"
	CSDL_NS_AS("Org.OData.Core.V1", "OData")
	"  </edmx:Reference>\n"
	CSDL_REF("RedfishExtensions_v1.xml", CSDL_NS_AS("RedfishExtensions.v1_0_0", "Redfish"))
	CSDL_REF("Resource_v1.xml", CSDL_NS("Resource") CSDL_NS("Resource.v1_0_0"))
	"  <edmx:DataServices>\n"
	CSDL_SCHEMA(REDFISH_OEM_NS)
	"      <Annotation Term=\"Redfish.OwningEntity\" String=\"vmedia\"/>\n"
	"    </Schema>\n"
	CSDL_SCHEMA(REDFISH_OEM_NS ".v1_0_0")
	"      <Annotation Term=\"Redfish.OwningEntity\" String=\"vmedia\"/>\n"
	"      <Annotation Term=\"Redfish.Release\" String=\"1.0\"/>\n"
	"      <ComplexType Name=\"Manager\" BaseType=\"Resource.OemObject\">\n"
	"  " CSDL_CLOSED "  " CSDL_DESC("vmedia's additions to the Manager.")
	CSDL_PROP("Luns", "Edm.Int64", "false", "The number of LUNs of the USB mass-storage gadget.")
	"      </ComplexType>\n"
	"      <ComplexType Name=\"VirtualMedia\" BaseType=\"Resource.OemObject\">\n"
	"  " CSDL_CLOSED
	"  " CSDL_DESC("The LUN behind a VirtualMedia member, as vmedia's HTTP API shows it.")
	CSDL_PROP("Lun", "Edm.Int64", "false", "The LUN's number.")
	CSDL_PROP("State", "Edm.String", "false",
	     "The LUN's state: empty, inserted, inserting or ejecting.")
	CSDL_PROP("Cdrom", "Edm.Boolean", "false", "Whether the LUN is a CD-ROM (else a USB disk).")
	CSDL_PROP("Locked", "Edm.Boolean", "true",
	     "Whether the host has locked the medium (null: the kernel cannot tell).")
	CSDL_PROP("LastEject", REDFISH_OEM_NS ".v1_0_0.LastEject", "true",
	     "How the last eject went (null: none since vmediad started).")
	CSDL_PROP("Warning", "Edm.String", "false",
	     "What the host has yet to see, e.g. a type change before it reconfigures.")
	CSDL_PROP("Task", "Edm.String", "false",
	     "The URI of the task downloading the image for this LUN.")
	"      </ComplexType>\n"
	"      <ComplexType Name=\"LastEject\">\n"
	"  " CSDL_CLOSED "  " CSDL_DESC("How an eject went.")
	CSDL_PROP("method", "Edm.String", "false",
	     "The steps taken, e.g. file, break_io+forced_eject, sigusr1+file.")
	CSDL_PROP("forced", "Edm.Boolean", "false", "Whether the eject was forced.")
	CSDL_PROP("ok", "Edm.Boolean", "false", "Whether the medium went out.")
	CSDL_PROP("elapsed_ms", "Edm.Decimal", "false", "How long the eject took, in milliseconds.")
	CSDL_PROP("other_luns_affected", "Edm.Boolean", "false",
	     "Whether I/O on the other LUNs was interrupted.")
	CSDL_PROP("error", "Edm.String", "true", "Why the eject failed (null when it did not).")
	CSDL_PROP("at", "Edm.DateTimeOffset", "false", "When the eject ended.")
	"      </ComplexType>\n"
	"    </Schema>\n"
	"  </edmx:DataServices>\n"
	CSDL_EDMX_TAIL;

static void _xml(struct http_req *r, const char *text)
{
	struct MHD_Response *resp;

	if (!redfish_allowed(r, "GET, HEAD"))
		return;
	resp = MHD_create_response_from_buffer(strlen(text), (void *)text,
					       MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/xml");
	MHD_add_response_header(resp, "OData-Version", "4.0");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	http_reply(r, MHD_HTTP_OK, resp);
}

void redfish_metadata(struct http_req *r)
{
	_xml(r, metadata);
}

void redfish_oem_schema(struct http_req *r)
{
	_xml(r, oem);
}
